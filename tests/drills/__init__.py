"""Reliability drills (issue 18): each ``test_*.py`` is a quick form that runs in plain pytest;
the modules beside them are the drills themselves, which ``bench/drills.py`` runs long."""
