"""Human evaluation: export of blinded pairs, the annotation web app, import, agreement.

Planned in issue 5; nothing is implemented yet and no command exposes it.
"""
