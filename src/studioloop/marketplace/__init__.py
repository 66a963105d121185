"""Cross-studio discovery and booking: search near a point, book anywhere with universal
credits, commission, and what each studio is owed (seed 002's Marketplace Service)."""
