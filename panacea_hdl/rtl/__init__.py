"""RTL blocks of the Panacea core (Amaranth components)."""
