"""Pure renderers: topology + settings -> the text of every config file. No Pulumi runtime."""
