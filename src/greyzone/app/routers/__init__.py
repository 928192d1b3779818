"""One router per resource: samples (meta, columns, detail), images, decisions, export."""
