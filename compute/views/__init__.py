"""compute's pages: tenant pages, admin pages, live (migration and monitoring) pages, dashboard cards."""
