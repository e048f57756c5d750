"""Convert an annotation file from one registered format to another.

Reading quirks are collected as :class:`~posemark.formats.errors.Problem` values in the
report (not raised, not printed) so the CLI and the API decide how to show them. The
write is atomic: on any error the destination is left as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from posemark.formats import registry
from posemark.formats.errors import Problem

# progress(rows_written, total_rows): called with 0 once reading is done, then per batch.
ConvertProgress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class ConvertReport:
    """What a conversion did, for display and for API responses."""

    source: Path
    destination: Path
    from_format: str
    to_format: str
    images: int
    instances: int
    categories: int
    what_it_loses: str
    warnings: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "source": str(self.source),
            "destination": str(self.destination),
            "from_format": self.from_format,
            "to_format": self.to_format,
            "images": self.images,
            "instances": self.instances,
            "categories": self.categories,
            "what_it_loses": self.what_it_loses,
            "warnings": [w.as_dict() for w in self.warnings],
        }


def convert(
    src: str | Path,
    dst: str | Path,
    from_format: str | None = None,
    to_format: str | None = None,
    progress: ConvertProgress | None = None,
) -> ConvertReport:
    """Read ``src`` (format detected from content unless given) and write ``dst`` (format
    from its file name unless given).

    Both formats are resolved before anything is read, so a bad ``--to`` fails fast.
    Raises :class:`FileNotFoundError`, :class:`~posemark.formats.registry.UnknownFormatError`
    or :class:`~posemark.formats.errors.FormatError` (located) on failure.
    """
    source, destination = Path(src), Path(dst)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    reader = registry.resolve(source, from_format)
    writer = (
        registry.get_format(to_format)
        if to_format is not None
        else registry.format_for_extension(destination)
    )
    problems: list[Problem] = []
    if reader.name == writer.name == "coco":
        return _stream_coco(source, destination, writer.what_it_loses, problems, progress)
    dataset = reader.read(source, on_warning=problems.append)
    if writer.losses is not None:
        # counted losses of this conversion, next to the reader's quirks
        for message in writer.losses(dataset):
            lost = f"{writer.name} loses: {message}"
            problems.append(Problem("warning", str(destination), None, None, lost))
    total = len(dataset.instances)
    done = 0

    def rows_written(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    if progress is not None:
        progress(0, total)
    writer.write(dataset, destination, rows_written)
    return ConvertReport(
        source=source,
        destination=destination,
        from_format=reader.name,
        to_format=writer.name,
        images=len(dataset.images),
        instances=total,
        categories=len(dataset.categories),
        what_it_loses=writer.what_it_loses,
        warnings=problems,
    )


def _stream_coco(
    source: Path,
    destination: Path,
    what_it_loses: str,
    problems: list[Problem],
    progress: ConvertProgress | None,
) -> ConvertReport:
    """COCO to COCO never needs the whole dataset in memory: stream it batch by batch."""
    from posemark.formats.coco_stream import stream_convert_coco

    done = 0

    def rows_written(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, 0)  # the total is unknown until the end of a stream

    counts = stream_convert_coco(source, destination, problems.append, rows_written)
    return ConvertReport(
        source=source,
        destination=destination,
        from_format="coco",
        to_format="coco",
        images=counts.images,
        instances=counts.instances,
        categories=counts.categories,
        what_it_loses=what_it_loses,
        warnings=problems,
    )
