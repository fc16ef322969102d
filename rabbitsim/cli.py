"""Command line: `rabbitsim course` copies the course into a folder the learner owns (never
overwriting their edits) and opens it in JupyterLab on chapter 0; `rabbitsim server` runs a
simulated RabbitMQ in the foreground, on localhost:5672 by default, so unmodified tutorial
scripts can connect to it; `rabbitsim ctl` is rabbitmqctl (its commands, output and exit codes)
through the management HTTP API of the simulator or of any RabbitMQ."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from rabbitsim._course_files import CourseCopy, CourseNotFound, Sync, UnknownChapter, describe
from rabbitsim._language import LANGUAGES, Language, from_locale
from rabbitsim._version import __version__
from rabbitsim.backends import BackendUnavailable, Ctl, EmbeddedBroker, ManagementClient
from rabbitsim.broker import DEFAULT_PROFILE, PROFILES

CTL_DEFAULT_URL = "http://guest:guest@127.0.0.1:15672/"
#: where `rabbitsim course` keeps the learner's copy unless told otherwise (`--dir`)
COURSE_DIR = "~/rabbitsim-course"

#: JupyterLab 4 asks "Would you like to get notified about official Jupyter news?" in a toast
#: while its `fetchNews` setting is "none" (its update check needs "true" too); a question about
#: news does not belong over a lesson. This becomes the default for the course's launches only:
#: a learner who has answered it keeps their answer.
LAB_DEFAULTS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}
#: JupyterLab's own interface language, per edition of the course (the Chinese one comes from
#: the jupyterlab-language-pack-zh-CN package, a dependency); also a default the learner may change
LAB_LOCALES = {"en": "en", "zh": "zh_CN"}
TRANSLATION_PLUGIN = "@jupyterlab/translation-extension:plugin"


def lab_defaults(language: Language | None = None) -> dict[str, dict[str, str]]:
    """The settings the course's launch gives JupyterLab as defaults: no news pop-up, and its
    interface in the language of the edition opened (None: JupyterLab's own choice, as on Binder,
    where one server serves both editions)."""
    if language is None:
        return dict(LAB_DEFAULTS)
    return {**LAB_DEFAULTS, TRANSLATION_PLUGIN: {"locale": LAB_LOCALES[language]}}


def serve(options: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM, then stop as RabbitMQ does (clients told, state stored);
    after a SIGKILL, the next start on the same `--data-dir` recovers what was committed."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        broker = EmbeddedBroker(
            options.host,
            options.port,
            profile=options.profile,
            data_dir=options.data_dir,
            # on the command line 0 means no management API (the handle's 0 is "any free port")
            management_port=-1 if options.management_port == 0 else options.management_port,
        )
    except (BackendUnavailable, OSError) as error:
        print(f"rabbitsim server: {error}", file=sys.stderr)
        return 1
    where = f"data in {broker.data_dir}" if options.data_dir else "data in a temporary directory"
    print(
        f"rabbitsim {options.profile} broker listening on {broker.url}, {where} (Ctrl-C to stop)", flush=True
    )
    if broker.management_url is not None:
        print(f"management API and dashboard on {broker.management_url}", flush=True)
    stop.wait()
    broker.close(clean=True)
    print("rabbitsim broker stopped", flush=True)
    return 0


def course(options: argparse.Namespace, jupyter_arguments: list[str]) -> int:
    """`rabbitsim course`: bring the learner's copy of the course up to date (never overwriting
    an edit) and replace this process with JupyterLab on chapter 0; or, with `--restore`, put
    packaged chapters back; or, with `--export-nbgrader`, write the exercises for nbgrader."""
    if options.export_nbgrader is not None:
        return export_nbgrader(Path(options.export_nbgrader), options.lang or from_locale())
    try:
        copy = CourseCopy(Path(options.dir))
    except CourseNotFound as error:
        print(f"rabbitsim course: {error}", file=sys.stderr)
        return 1
    language: Language = options.lang or from_locale()
    if options.restore is not None:
        return restore(copy, options.restore, language)
    tell(copy, copy.sync())
    if language == "zh":
        print("rabbitsim course: 中文版（英文版：rabbitsim course --lang en）")
    argv, env = jupyterlab_command(copy, jupyter_arguments, language)
    write_lab_defaults(lab_config_dir(copy), language)
    sys.stdout.flush()
    os.execve(argv[0], argv, env)
    return 0  # not reached


def tell(copy: CourseCopy, done: Sync) -> None:
    """Say where the course is and what this run changed there, once."""
    if done.first:
        print(f"rabbitsim course: copied the course into {copy.target}; it is yours to edit.")
        print("  Later runs update only the files you have not changed.")
    else:
        print(f"rabbitsim course: your copy of the course is in {copy.target}")
        if done.copied:
            print(f"  copied (they were missing): {describe(done.copied)}")
        if done.updated:
            print(
                f"  updated to rabbitsim {__version__} (you had not changed them): {describe(done.updated)}"
            )
    if done.news:
        print(f"  kept your version of {describe(done.news)}: rabbitsim {__version__} has another one.")
        example = next((Path(path).stem for path in done.news if path.endswith(".ipynb")), "all")
        print(
            f"  To take the packaged version (yours is renamed beside it, not deleted): "
            f"rabbitsim course --dir {shlex.quote(str(copy.target))} --restore {example}"
        )


def restore(copy: CourseCopy, which: str, language: Language = "en") -> int:
    """Put packaged chapters of the edition in `language` back, the learner's versions set aside;
    exit 2 for an unknown chapter."""
    try:
        restored = copy.restore(which, edition=language)
    except UnknownChapter as error:
        print(f"rabbitsim course: {error}", file=sys.stderr)
        return 2
    for item in restored:
        if item.aside is not None:
            print(f"restored {item.path}; your version is now {item.aside.name}, beside it")
        elif item.missing:
            print(f"restored {item.path} (it was missing)")
        else:
            print(f"{item.path} is already the packaged version")
    print(f"in {copy.target}. A chapter open in JupyterLab: File > Reload Notebook from Disk.")
    return 0


def export_nbgrader(target: Path, language: Language = "en") -> int:
    """The course's exercises in nbgrader's format, for teachers who grade (see docs/teaching.md),
    from the edition in `language`."""
    from rabbitsim.course import export_nbgrader as export  # the course layer, only when asked

    written = export(target, edition=language)
    for path in written:
        print(path)
    print(f"rabbitsim course: wrote {len(written)} files for nbgrader into {target}")
    return 0


def jupyterlab_command(
    copy: CourseCopy, jupyter_arguments: list[str], language: Language = "en"
) -> tuple[list[str], dict[str, str]]:
    """JupyterLab's command line and environment: serving the learner's copy, opening chapter 0
    of the edition in `language`, and (through `write_lab_defaults`) with its news pop-up off and
    its interface in that language. The learner's own JupyterLab settings are untouched and still
    win: these are defaults."""
    chapter = copy.first_chapter.relative_to(copy.target)
    if language != "en":
        chapter = chapter.parent / language / chapter.name  # notebooks/zh/00_start_here.ipynb
    first = chapter.as_posix()
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.root_dir={copy.target}",
        f"--LabApp.default_url=/lab/tree/{first}",
        *jupyter_arguments,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in jupyter_arguments:
        argv.append("--allow-root")  # containers and CI machines often run as root
    env = dict(os.environ)
    config_path = [
        str(lab_config_dir(copy)),
        *filter(None, env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep)),
    ]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(config_path)
    return argv, env


def lab_config_dir(copy: CourseCopy) -> Path:
    """A Jupyter config folder of the course's own, searched first (JUPYTER_CONFIG_PATH)."""
    return copy.state_dir / "jupyter"


def write_lab_defaults(config_dir: Path, language: Language | None = None) -> Path:
    """Add `lab_defaults(language)` to `config_dir/labconfig/default_setting_overrides.json`, which JupyterLab
    reads from every Jupyter config folder as new defaults for its settings (jupyterlab_server's
    settings_utils). `rabbitsim course` writes its own folder's; binder/postBuild the image's."""
    path = config_dir / "labconfig" / "default_setting_overrides.json"
    try:
        defaults = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        defaults = {}
    for plugin, values in lab_defaults(language).items():
        defaults.setdefault(plugin, {}).update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(defaults, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def ctl(arguments: list[str]) -> int:
    """`rabbitsim ctl [--url URL] <rabbitmqctl command line>`: rabbitmqctl's commands and output,
    through the management HTTP API at `--url` (or RABBITSIM_MANAGEMENT_URL, or guest on
    localhost:15672); the exit code is rabbitmqctl's."""
    url = os.environ.get("RABBITSIM_MANAGEMENT_URL") or CTL_DEFAULT_URL
    rest: list[str] = []
    words = iter(arguments)
    for word in words:
        if word == "--url":
            url = next(words, url)
        elif word.startswith("--url="):
            url = word.partition("=")[2]
        else:
            rest.append(word)
    result = Ctl(ManagementClient(url)).run(rest)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.code


def editions(options: argparse.Namespace) -> int:
    """`rabbitsim editions scaffold|build|check [LANGUAGE]`: for maintainers, in a clone: start a
    chapter's translation file, build the edition's notebooks from the translations, or list what
    is out of step (exit 1)."""
    from rabbitsim import _editions

    language = options.language
    if options.action == "scaffold":
        for chapter in _editions.english_chapters():
            print(_editions.scaffold(chapter, language))
        return 0
    if options.action == "build":
        try:
            written = _editions.write(language)
        except _editions.EditionError as error:
            print(f"rabbitsim editions: {error}", file=sys.stderr)
            return 1
        for path in written:
            print(f"built {path}")
        print(f"rabbitsim editions: the {language} edition is up to date ({len(written)} chapters rebuilt)")
        return 0
    problems = _editions.check(language)
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"rabbitsim editions: the {language} edition matches the English chapters")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["ctl"]:  # rabbitmqctl's own options (-p, -q, -s...) are not argparse's
        return ctl(arguments[1:])
    parser = argparse.ArgumentParser(prog="rabbitsim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    control = commands.add_parser(
        "ctl", help="rabbitmqctl's commands through the management API", add_help=False, allow_abbrev=False
    )
    control.add_argument(
        "--url", help=f"the management API (default: RABBITSIM_MANAGEMENT_URL or {CTL_DEFAULT_URL})"
    )
    lesson = commands.add_parser(
        "course",
        help="copy the course into a folder of yours and open it in JupyterLab (other options: JupyterLab's)",
        description="Copy the course into a folder of yours (updating only the files you have not changed) "
        "and open it in JupyterLab on chapter 0. Options not listed here go to JupyterLab "
        "(--no-browser, --port=8890, ...).",
        allow_abbrev=False,
    )
    lesson.add_argument(
        "--dir",
        default=COURSE_DIR,
        help=f"your copy of the course (default: {COURSE_DIR}); your edits there are never overwritten",
    )
    lesson.add_argument(
        "--lang",
        choices=LANGUAGES,
        help="the edition: en (English) or zh (简体中文); default: the locale's (zh for any zh_* locale, "
        "else en). JupyterLab's menus follow it",
    )
    lesson.add_argument(
        "--restore",
        metavar="CHAPTER",
        help="put the packaged version of a chapter back (3, 03_publish_subscribe, or all), of the edition "
        "--lang names; "
        "yours is renamed beside it, never deleted; JupyterLab is not started",
    )
    lesson.add_argument(
        "--export-nbgrader",
        metavar="DIR",
        help="write the exercises in nbgrader's format (solution and hidden-test cells) into DIR, from the "
        "edition --lang names",
    )
    server = commands.add_parser("server", help="run a simulated RabbitMQ until interrupted")
    server.add_argument("--host", default="127.0.0.1")
    server.add_argument("--port", type=int, default=5672)
    server.add_argument(
        "--profile", default=DEFAULT_PROFILE.name, choices=list(PROFILES), help="the RabbitMQ to imitate"
    )
    server.add_argument(
        "--management-port",
        type=int,
        default=None,
        help="serve the management HTTP API here (default: the AMQP port + 10000; 0: not at all)",
    )
    server.add_argument(
        "--data-dir",
        help="keep durable state here, across restarts (default: a temporary directory removed at exit)",
    )
    edition = commands.add_parser(
        "editions",
        help="for maintainers: keep the Chinese edition in step with the English chapters",
        description=editions.__doc__,
    )
    edition.add_argument("action", choices=["scaffold", "build", "check"])
    edition.add_argument("language", nargs="?", default="zh", choices=["zh"])
    options, rest = parser.parse_known_args(arguments)
    if options.command == "ctl":
        return ctl(arguments[1:])
    if options.command == "course":
        return course(options, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if options.command == "editions":
        return editions(options)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return serve(options)


if __name__ == "__main__":
    raise SystemExit(main())
