"""pipeline.py's stage logic: a stage runs, then is skipped while its command and inputs are
unchanged and its outputs exist; a changed input or a deleted output runs it again; a failing
command stops the pipeline in one line (a rerun resumes); a missing module skips its stage."""

from __future__ import annotations

import sys

import pytest

from pipeline import Pipeline, Stage


def writer(path, text="x"):
    """A command that appends a line to a log and writes `path`."""
    code = (
        f"import pathlib; p = pathlib.Path({str(path)!r}); p.write_text({text!r}); "
        f"log = p.with_suffix('.log'); log.write_text(log.read_text() + 'ran\\n' "
        f"if log.exists() else 'ran\\n')"
    )
    return [sys.executable, "-c", code]


def runs(path) -> int:
    log = path.with_suffix(".log")
    return log.read_text().count("ran") if log.exists() else 0


def test_stage_runs_then_skips_until_an_input_or_output_changes(tmp_path, capsys):
    src, out = tmp_path / "input.txt", tmp_path / "out.txt"
    src.write_text("a")

    def stage():
        return Stage("make", [writer(out)], [src], [out], shown=str(out))

    Pipeline(tmp_path, sys.executable).run(stage(), 1, 1)
    assert runs(out) == 1 and (tmp_path / "stages.json").exists()
    pipe = Pipeline(tmp_path, sys.executable)  # a new run reads the stamps back
    s = stage()
    pipe.run(s, 1, 1)
    assert runs(out) == 1 and s.status == "up to date"
    src.write_text("b")  # changed input
    Pipeline(tmp_path, sys.executable).run(stage(), 1, 1)
    assert runs(out) == 2
    out.unlink()  # missing output
    Pipeline(tmp_path, sys.executable).run(stage(), 1, 1)
    assert runs(out) == 3 and out.exists()
    changed = Stage("make", [writer(out, "y")], [src], [out])  # changed command
    Pipeline(tmp_path, sys.executable).run(changed, 1, 1)
    assert out.read_text() == "y"
    table = pipe.table()
    assert "make" in table and "up to date" in table and "total" in table


def test_a_failing_command_stops_with_one_line_and_no_stamp(tmp_path):
    bad = Stage("bad", [[sys.executable, "-c", "raise SystemExit(3)"]], [], [tmp_path / "x"])
    with pytest.raises(SystemExit) as e:
        Pipeline(tmp_path, sys.executable).run(bad, 2, 6)
    assert "pipeline stopped at bad" in str(e.value.code) and "exited with 3" in str(e.value.code)
    assert not (tmp_path / "stages.json").exists()


def test_resume_flag_does_not_change_the_stage(tmp_path):
    from pipeline import fingerprint

    cmd = [sys.executable, "train_alphazero.py", "--preset", "quick"]
    assert fingerprint(Stage("a", [cmd], [], [])) == fingerprint(
        Stage("a", [cmd + ["--resume"]], [], [])
    )


def test_help_and_bad_options(tmp_path, capsys):
    from pipeline import main

    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "http.server" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["--positions", "5"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["--agent", str(tmp_path / "none"), "--out", str(tmp_path / "p")])
    assert e.value.code == 2 and "not found" in capsys.readouterr().err


def test_ci_runs_exactly_the_readme_test_command():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    ci = (root / ".ci" / "run").read_text().strip().splitlines()[-1]
    readme = (root / "README.md").read_text()
    assert f"```bash\n{ci}\n```" in readme
    assert "apt-get install -y -qq chromium" in ci and "requirements-dev.txt" in ci
