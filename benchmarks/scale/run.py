"""One run: the database built once per kind, copied for each code tree, and every
measurement of one tree on its copy."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from scale.build import MIB
from scale.load import saves_under_load
from scale.routes import measure_routes
from scale.server import Server, env_for, run_measured

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SCRIPT = Path(__file__).resolve().parents[1] / "bench_scale.py"


# --------------------------------------------------------------------------- one run


def pg_url(name: str) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


@contextlib.contextmanager
def template(db_kind: str, code: Path, work: Path, args: Any) -> Iterator[dict[str, Any]]:
    """The project built once per database (with ``code``), copied for each tree. With
    ``--keep-build`` it stays in ``--work`` after the run and a later run with the same
    work folder measures it again instead of building it (the build is most of a run)."""
    data = work / f"template-{db_kind}"
    kept = data / "build.json"
    if args.keep_build and kept.exists():
        saved = json.loads(kept.read_text())
        step(f"reusing the build kept in {data}", db_kind)
        yield {**saved, "data": data}
        return
    data.mkdir(parents=True, exist_ok=True)
    name = f"{args.pg_prefix}_tpl_{uuid.uuid4().hex[:6]}"
    if db_kind == "sqlite":
        db_url = f"sqlite:///{data / 'posemark.db'}"
    else:
        pg_admin(f'CREATE DATABASE "{name}"')
        db_url = pg_url(name)
    keep = False
    try:
        step("build", db_kind)
        cmd = [sys.executable, SCRIPT, "_build", "--data", str(data), "--db-url", db_url]
        cmd += ["--images-dir", str(work / "images"), "--images", str(args.images)]
        cmd += ["--instances", str(args.instances), "--seed", str(args.seed)]
        cmd += ["--annotators", str(args.annotators)]
        t0, c0 = time.perf_counter(), _children_cpu()
        built = subprocess.run(cmd, env=env_for(code), capture_output=True, text=True, check=False)
        if built.returncode:
            raise RuntimeError(f"build failed: {built.stderr[-3000:]}")
        info = json.loads(built.stdout.strip().splitlines()[-1])
        # the build's wall and CPU as this process saw them (CPU of the database server
        # of PostgreSQL not included), and the load the machine was under meanwhile
        info["wall_s"] = round(time.perf_counter() - t0, 1)
        info["cpu_s"] = round(_children_cpu() - c0, 1)
        info["load_after"] = [round(x, 1) for x in os.getloadavg()]
        state = {"info": info, "db_url": db_url, "pg_name": name}
        if args.keep_build:
            kept.write_text(json.dumps(state))
            keep = True
        yield {**state, "data": data}
    finally:
        if not keep:
            if db_kind == "postgresql":
                pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            shutil.rmtree(data, ignore_errors=True)


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


@contextlib.contextmanager
def clone(
    db_kind: str, tpl: dict[str, Any], work: Path, tag: str, prefix: str
) -> Iterator[tuple[Path, str]]:
    """A copy of the built project (database and data folder) for one code tree."""
    data = work / tag
    media = data / "media"
    media.mkdir(parents=True, exist_ok=True)
    (media / tpl["info"]["media_dir"]).symlink_to((work / "images").resolve())
    name = f"{prefix}_{tag.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
    if db_kind == "sqlite":
        shutil.copyfile(tpl["data"] / "posemark.db", data / "posemark.db")
        db_url = f"sqlite:///{data / 'posemark.db'}"
    else:
        pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{tpl["pg_name"]}"')
        db_url = pg_url(name)
    try:
        yield data, db_url
    finally:
        if db_kind == "postgresql":
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(data, ignore_errors=True)


def posemark_cmd(*parts: str) -> list[str]:
    return [sys.executable, "-m", "posemark.cli.main", *parts]


def run_one(
    code: Path,
    db_kind: str,
    tpl: dict[str, Any],
    work: Path,
    tag: str,
    args: Any,
    save: Callable[[], None],
    out: dict[str, Any],
) -> dict[str, Any]:
    """Everything measured for one code tree on its copy of the built project, written
    into ``out`` as it goes (``save`` keeps a partial run's figures)."""
    out.update(code=str(code), commit=commit_of(code))
    env = env_for(code)
    info = dict(tpl["info"])
    out["build"] = {k: v for k, v in info.items() if k != "new_item_ids"}
    steps = set(args.steps.split(","))
    out["load average before"] = [round(x, 1) for x in os.getloadavg()]
    with clone(db_kind, tpl, work, tag, args.pg_prefix) as (data, db_url):
        step("migrate the copy to this tree's head", tag)
        cmd = [sys.executable, SCRIPT, "_upgrade", db_url]
        upgraded = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if upgraded.returncode:
            out["error"] = f"migration failed: {upgraded.stderr[-3000:]}"
            return out
        out["upgrade"] = json.loads(upgraded.stdout.strip().splitlines()[-1])
        save()
        pid, first = info["project_id"], info["first_item_id"]
        common = ["--data", str(data), "--db", db_url]
        if args.after_build:
            step("after-build", tag)
            text = args.after_build.format(data=data, db=db_url, project=pid)
            cmd = ["bash", "-c", text]
            out["after build"] = run_measured(cmd, env, args.cli_timeout)
        if "qa" in steps:
            step("QA re-run (the project-wide re-check job)", tag)
            cmd = [sys.executable, SCRIPT, "_qa_rerun", db_url, str(pid)]
            result = run_measured(cmd, env, args.cli_timeout, stdout=subprocess.PIPE)
            if result.get("stdout", "").startswith("{"):
                result.update(json.loads(result.pop("stdout")))
                result["instances_per_s"] = round(result["instances"] / result["seconds"])
                result["instances_per_cpu_s"] = round(result["instances"] / result["cpu_s"])
            out["qa re-run"] = result
            save()
        server = Server(code, data, db_url)
        step("server routes", tag)
        server.start()
        try:
            if "routes" in steps:
                out["routes"] = measure_routes(server, pid, first + 7, args)
                out["server rss after routes (MiB)"] = round(server.rss() / MIB, 1)
                save()
            if "saves" in steps:
                step("saves under load", tag)
                items = info["new_item_ids"]
                out["saves under load"] = saves_under_load(server, pid, items, args)
            out["server peak rss (MiB)"] = round(server.peak_rss / MIB, 1)
            out["server restarts (timeouts)"] = server.restarts
        finally:
            server.stop()
        save()
        if "export" in steps:
            _export(out, pid, data, info, common, env, args, tag)
            save()
        if "import" in steps:
            _import(out, work, common, env, args, tag)
            save()
    out["load average after"] = [round(x, 1) for x in os.getloadavg()]
    return out


def _export(
    out: dict[str, Any],
    pid: int,
    data: Path,
    info: dict[str, Any],
    common: list[str],
    env: dict[str, str],
    args: Any,
    tag: str,
) -> None:
    step("export (posemark export)", tag)
    target = data / "export.json"
    result = run_measured(
        posemark_cmd("export", str(pid), str(target), *common), env, args.cli_timeout
    )
    if result["rc"] == 0 and not result["timed_out"]:
        result["instances_per_s"] = round(info["instances"] / result["seconds"])
        result["bytes"] = target.stat().st_size
    target.unlink(missing_ok=True)
    out["export"] = result


def _import(
    out: dict[str, Any],
    work: Path,
    common: list[str],
    env: dict[str, str],
    args: Any,
    tag: str,
) -> None:
    step("import (posemark import)", tag)
    coco = work / "subset" / "subset.json"
    result = run_measured(
        posemark_cmd(
            "import", f"import-{tag}", str(coco), "--images", str(coco.parent / "images"),
            "--create-with-skeleton", "coco17", *common,
        ),
        env,
        args.cli_timeout,
    )  # fmt: skip
    if result["rc"] == 0 and not result["timed_out"]:
        result["images_per_s"] = round(args.import_images / result["seconds"])
    out["import"] = result


def commit_of(code: Path) -> str:
    r = subprocess.run(
        ["git", "-C", str(code), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(code), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return r.stdout.strip() + ("+changes" if dirty else "")


def step(what: str, tag: str) -> None:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"[{time.strftime('%H:%M:%S')}] (load {load}) {tag}: {what}", file=sys.stderr, flush=True)
