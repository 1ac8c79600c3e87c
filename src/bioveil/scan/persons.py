"""Plain-language risks: what each file's faces give away, and what links each person across files."""

from __future__ import annotations

from typing import Any


def face_risks(faces: list[dict[str, Any]]) -> list[str]:
    if not faces:
        return []
    high = sum(face.get("identifiability") == "high" for face in faces)
    sentence = f"{len(faces)} face{'s' if len(faces) != 1 else ''} visible"
    if high:
        sentence += f", {high} large and sharp enough for any face recognizer to identify"
    return [sentence]


def describe_persons(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per person cluster (faces with a ``person`` id), ordered by id."""
    persons: dict[str, dict[str, Any]] = {}
    for record in records:
        for face in record["faces"]:
            person = face.get("person")
            if person is None:
                continue
            entry = persons.setdefault(person, {"id": person, "faces": 0, "files": [], "places": [], "times": []})
            entry["faces"] += 1
            if record["path"] in entry["files"]:
                continue
            entry["files"].append(record["path"])
            metadata = record.get("metadata") or {}
            gps = metadata.get("gps")
            if gps:
                entry["places"].append({"lat": gps["lat"], "lon": gps["lon"], "file": record["path"]})
            if metadata.get("captured"):
                entry["times"].append({"time": metadata["captured"], "file": record["path"]})
    out = sorted(persons.values(), key=lambda p: int(p["id"][1:]))
    for person in out:
        person["risks"] = _person_risks(person)
    return out


def _person_risks(person: dict[str, Any]) -> list[str]:
    files = len(person["files"])
    if files == 1:
        risks = [f"the same face is seen {person['faces']} times in one file (a video or a group photo)"]
    else:
        risks = [f"the same face appears in {files} files: anyone holding them can link these appearances to one person"]
    places = {(round(p["lat"], 3), round(p["lon"], 3)) for p in person["places"]}
    if places:
        risks.append(f"GPS positions in {len(person['places'])} of them place this person at {len(places)} "
                     f"location{'s' if len(places) != 1 else ''}")
    days = {t["time"][:10] for t in person["times"]}
    if len(days) > 1:
        risks.append(f"capture times put this person somewhere on {len(days)} days ({min(days)} to {max(days)})")
    elif days:
        risks.append(f"capture times date this person's presence to {min(days)}")
    return risks
