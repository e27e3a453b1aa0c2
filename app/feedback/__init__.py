"""Customer feedback on bot answers: one rating (and an optional comment) per message."""
