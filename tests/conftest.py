"""Shared test helpers: tests write their own fixtures; nothing here reads ../shared or data/."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
