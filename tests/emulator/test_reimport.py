"""emulator.reimport: a worker's modules are imported afresh on every load."""

from __future__ import annotations

import sys

import pytest

from emulator.reimport import import_fresh, lock


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_siblings_reload_vendored_code_stays_and_no_pycache(tmp_path):
    root = tmp_path / "w"
    write(root, "helper_r1.py", "VALUE = 1\n")
    write(root, "python_modules/vendored_r1.py", "LOADS = []\nLOADS.append(1)\n")
    main = write(root, "main_r1.py", "import helper_r1\nVALUE = helper_r1.VALUE\n")
    sys.path.append(str(root / "python_modules"))
    try:
        with lock:
            assert import_fresh(main, root).VALUE == 1
        import vendored_r1

        write(root, "helper_r1.py", "VALUE = 2\n")
        with lock:
            assert import_fresh(main, root).VALUE == 2  # the edited sibling, not a cached one
        import vendored_r1 as again

        assert again is vendored_r1  # third-party code is not purged
        assert not list(root.rglob("__pycache__"))
    finally:
        sys.path.remove(str(root / "python_modules"))


def test_a_failed_load_puts_the_previous_modules_back(tmp_path):
    root = tmp_path / "w"
    write(root, "helper_r2.py", "VALUE = 'good'\n")
    main = write(root, "main_r2.py", "import helper_r2\n")
    with lock:
        import_fresh(main, root)
    good = sys.modules["helper_r2"]
    write(root, "helper_r2.py", "VALUE = \n")  # a syntax error in the sibling
    with lock, pytest.raises(SyntaxError):
        import_fresh(main, root)
    assert sys.modules["helper_r2"] is good and good.VALUE == "good"
