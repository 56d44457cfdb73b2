"""The notifier service: enriched Kladana documents -> rules -> customer SMS."""
