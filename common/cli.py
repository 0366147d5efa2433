"""The one place where CLIs turn errors into one line and an exit code.

Every ``python -m ...`` entry point follows the same shape::

    def get_parser() -> argparse.ArgumentParser: ...
    def main(argv=None) -> int:
        args = get_parser().parse_args(argv)
        return run_cli(_run, args)

so tests call ``main([...])`` in-process and read the exit code.
"""
import sys

from common.errors import AvsepError

EXIT_OK = 0
EXIT_FAILED_ITEMS = 1
EXIT_BAD_INPUT = 2


def add_debug_flag(parser):
    """Add ``--debug``: show tracebacks instead of one-line errors."""
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return parser


def run_cli(command, args):
    """Run ``command(args)``; an :class:`AvsepError` becomes one stderr line and exit 2.

    Args:
        command: callable taking the parsed ``args`` and returning an exit code (or None for 0).
        args: the ``argparse.Namespace``; ``args.debug`` (if present) re-raises errors.

    Returns:
        The process exit code.
    """
    try:
        code = command(args)
    except AvsepError as error:
        if getattr(args, "debug", False):
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return EXIT_OK if code is None else code


def print_table(header, rows):
    """Print ``rows`` (tuples) under ``header`` in left-aligned columns."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())
