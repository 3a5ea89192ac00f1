"""The desktop's server side: launcher entries and saved window layouts."""
