"""Small numerical algorithms in NumPy that the core needs and SciPy would otherwise supply.

SciPy is about 140 MB installed, a fifth of the core virtualenv, for three functions:
optimal one-to-one assignment (``assignment``), nearest neighbours and pairs within a
radius (``neighbours``) and the Savitzky-Golay filter (``savgol``). The tests hold each
one to SciPy's own results (SciPy is a test dependency).
"""
