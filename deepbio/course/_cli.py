"""``deepbio course list | show | start | check``: the command line of
:mod:`deepbio.course` (registered by :mod:`deepbio.cli`)."""
import textwrap

from . import EXERCISES, check, get, start


def add_parser(subparsers):
    """Register ``course`` on the ``deepbio`` command's subparsers."""
    c = subparsers.add_parser("course", help="exercises: write a kernel from its formula, "
                                             "graded against deepbio (list, show, start, "
                                             "check)")
    sub = c.add_subparsers(dest="course_command", metavar="ACTION")
    sub.required = True
    sub.add_parser("list", help="list the exercises and their chapters")
    s = sub.add_parser("show", help="print an exercise's statement")
    s.add_argument("exercise", metavar="EXERCISE", choices=list(EXERCISES))
    st = sub.add_parser("start", help="write an exercise's starter template")
    st.add_argument("exercise", metavar="EXERCISE", choices=list(EXERCISES))
    st.add_argument("path", metavar="PATH", nargs="?",
                    help="file (or folder) to write (default ./EXERCISE.py)")
    st.add_argument("--force", action="store_true", help="overwrite an existing file")
    ch = sub.add_parser("check", help="grade a solution; exit status 0 when every check "
                                      "passes, 1 otherwise")
    ch.add_argument("exercise", metavar="EXERCISE", choices=list(EXERCISES))
    ch.add_argument("solution", metavar="SOLUTION", help="Python file defining the function")
    c.set_defaults(func=run)
    return c


def run(args, out):
    """Carry out ``deepbio course ...``; returns the exit status."""
    action = args.course_command
    if action == "list":
        width = max(map(len, EXERCISES))
        for i, ex in enumerate(EXERCISES.values(), 1):
            print(f"{i}. {ex.name.ljust(width)}  {ex.title} (docs/{ex.chapter})", file=out)
        return 0
    if action == "show":
        ex = get(args.exercise)
        print(f"{ex.name}: {ex.title} (docs/{ex.chapter})\n\ndef {ex.signature}\n\n"
              + textwrap.indent(ex.statement, "  "), file=out)
        return 0
    if action == "start":
        path = start(args.exercise, args.path, force=args.force)
        print(f"wrote {path}; when it is written: deepbio course check {args.exercise} "
              f"{path}", file=out)
        return 0
    result = check(args.exercise, args.solution)
    print(result.report(), file=out)
    return 0 if result.passed else 1
