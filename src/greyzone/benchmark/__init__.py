"""Curation benchmark: plant known problems in a clean dataset and measure how well greyzone finds them."""
