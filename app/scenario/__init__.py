"""Scenarios: the format (``model``), safe YAML reading, the validator and the loader."""
from app.scenario.loader import ScenarioError, ScenarioFile, load_scenario_file

__all__ = ["ScenarioError", "ScenarioFile", "load_scenario_file"]
