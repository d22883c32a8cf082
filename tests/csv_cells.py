"""What the CSV tests ask of a cell (shared by the report, index and fuzz tests)."""


def is_number(cell: str) -> bool:
    """A cell that parses as a number: `-3.5` may start with a formula character and still be safe."""
    try:
        float(cell)
    except ValueError:
        return False
    return True
