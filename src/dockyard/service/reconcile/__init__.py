"""Keeping every workspace in line with the policy: the loop and its passes, the
executor of planned actions, scheduled gc, and the stats of what is pending."""
