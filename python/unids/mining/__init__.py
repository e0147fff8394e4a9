"""Mining: the pattern miners on top of `unids._core`, and how to judge what they find."""
