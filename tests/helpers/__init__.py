"""Test scaffolding shared by several test modules (never a test module itself)."""
