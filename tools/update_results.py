"""Merge run folders' metrics.json into the results table nbs/results.json (the site's Results page).

Usage: python tools/update_results.py RUN_DIR... [--results nbs/results.json]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dlcv_course.results import main

if __name__ == '__main__': main()
