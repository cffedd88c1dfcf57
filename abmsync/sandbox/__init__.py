"""Local stand-ins for the vendor systems: seeded demo data (``generate``) and emulators."""
