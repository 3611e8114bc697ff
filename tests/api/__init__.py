"""Tests of the public API around groups: the @cached decorator and its serializers."""
