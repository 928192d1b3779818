"""The curated dataset: ``root/{train,test}/{classes..., IDK}/<index:05d>.png``."""
