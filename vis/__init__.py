"""The static feature viewer: `vis.export` writes its data folder, `index.html` shows it."""
