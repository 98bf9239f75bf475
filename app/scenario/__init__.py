"""Reading scenario files. The full format and validator live here (scenario issue)."""
from app.scenario.loader import ScenarioError, ScenarioFile, load_scenario_file

__all__ = ["ScenarioError", "ScenarioFile", "load_scenario_file"]
