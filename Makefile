.PHONY: install test lint format typecheck app bundle
install:
	python -m pip install -r requirements-dev.txt
test:
	python -m pytest
lint:
	ruff check .
format:
	ruff format . && ruff check --fix .
typecheck:
	mypy explorer --ignore-missing-imports
app:
	streamlit run app.py
bundle:
	python -m explorer.demo.build
