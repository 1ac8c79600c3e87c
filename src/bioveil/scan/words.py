"""The scan's findings in plain words, for people rather than engineers: what each metadata category gives
away, how serious it is, and what each of bioveil's error names means. The HTML report and the app both
speak from these tables, so a photo is described the same way in both."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    key: str
    severity: int  # 3 high, 2 medium, 1 low
    label: str  # a short name for a chip
    one: str  # what one photo does
    many: str  # what several photos do


CATEGORIES = [  # most serious first; this order is the order of the summary and of the chips
    Category("gps", 3, "Location", "reveals where it was taken (GPS position)",
             "reveal where they were taken (GPS position)"),
    Category("people_tags", 3, "People named", "names the people in it", "name the people in them"),
    Category("face_regions", 3, "Faces tagged with names", "marks faces with people's names",
             "mark faces with people's names"),
    Category("serial", 3, "Serial number", "carries a camera serial number, which ties it to one device",
             "carry camera serial numbers, which tie them to one device"),
    Category("owner", 3, "Owner's name", "names its owner or photographer", "name their owner or photographer"),
    Category("thumbnail_differs", 3, "Hidden preview",
             "hides a preview image that differs from the photo (it may show what was cropped or edited out)",
             "hide preview images that differ from the photo (they may show what was cropped or edited out)"),
    Category("faces", 3, "Faces", "shows faces", "show faces"),
    Category("text", 2, "Descriptions", "carries captions, comments or computer names",
             "carry captions, comments or computer names"),
    Category("time", 2, "Date and time", "tells when it was taken", "tell when they were taken"),
    Category("keywords", 2, "Keywords", "carries keywords", "carry keywords"),
    Category("history", 2, "Edit history", "keeps a history of its edits", "keep a history of their edits"),
    Category("device", 1, "Camera model", "names the camera or phone model", "name the camera or phone model"),
    Category("software", 1, "Software", "names the software that made or edited it",
             "name the software that made or edited them"),
    Category("thumbnail", 1, "Embedded preview", "embeds a small preview image", "embed small preview images"),
]
BY_KEY = {category.key: category for category in CATEGORIES}
ORDER = {category.key: rank for rank, category in enumerate(CATEGORIES)}
SEVERITY_WORD = {3: "high", 2: "medium", 1: "low"}


def category(key: str) -> Category:
    """A known category, or a plain one for a name added to the schema after this module."""
    return BY_KEY.get(key) or Category(key, 1, key.replace("_", " "), f"shows {key}", f"show {key}")



RECOGNISABLE = {"high": "easy to recognise", "medium": "could be recognised", "low": "hard to recognise"}
PROBLEMS = {  # bioveil's error names in plain words
    "CorruptMediaError": "Damaged or cut short", "EmptyFileError": "Empty file",
    "UnsupportedFormatError": "Not a photo or video bioveil reads", "NoVideoStreamError": "No picture in it",
    "ImageTooLargeError": "Too large to check", "UnreadableInputError": "Could not be opened",
    "UnexpectedError": "A bug in bioveil (please report it)",
}




def describe_categories(keys: list[str]) -> list[dict[str, object]]:
    """The categories ``keys`` as the app shows them, most serious first: key, label, severity word, what it does."""
    found = sorted((category(key) for key in keys), key=lambda c: (-c.severity, ORDER.get(c.key, len(ORDER)), c.key))
    return [{"key": c.key, "label": c.label, "severity": SEVERITY_WORD[c.severity], "says": c.one} for c in found]
