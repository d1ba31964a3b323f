def answer():
    return 0.0
