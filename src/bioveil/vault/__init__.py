"""Protected, revocable face templates: keyed cancelable transforms, their metrics and an encrypted-matching backend."""
