"""Where parcels go and who carries them: placement, reservations, dispatch, geography."""
