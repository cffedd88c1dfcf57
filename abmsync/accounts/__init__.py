"""Accounts as sales sees them: the account brief, its listing and its write-back."""
