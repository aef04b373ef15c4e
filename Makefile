# The course's commands. Each target creates .venv from requirements.txt when it is
# missing or older than requirements.txt / pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# One BLAS/OpenMP thread per process: the course's models are small, two pytest workers
# share two cores, and oversubscribed threads made torch up to 20x slower under load.
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: book test lab formgrader release check clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

## book: build the site into _build/html, executing every chapter (cached), warnings as errors
book: $(STAMP)
	$(BIN)/jupyter-book build . -n -W --keep-going

## test: the whole test suite (library, exercises, grading, book)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=30

## lab: the student's JupyterLab on exercises/: nbgrader's Validate button only (student_lab/
## switches off the formgrader, Create Assignment and course panels); started from the root,
## so that Validate uses the course's nbgrader_config.py; --allow-root only when run as root
lab: $(STAMP)
	JUPYTER_CONFIG_PATH=$(CURDIR)/student_lab $(BIN)/jupyter lab --ServerApp.root_dir=exercises $(if $(filter 0,$(shell id -u)),--allow-root)

## formgrader: the instructor's JupyterLab at the root, with every nbgrader panel
formgrader: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

## release: regenerate exercises/ from solutions/
release: $(STAMP)
	$(BIN)/python -m course_utils release

## check: every exercise scores full marks, its stub zero, its mutants lose points
check: $(STAMP)
	$(BIN)/python -m course_utils check

clean:
	rm -rf _build
