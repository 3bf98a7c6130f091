"""`selbench run`: a spec's grid through select -> train -> evaluate -> results -> page."""
