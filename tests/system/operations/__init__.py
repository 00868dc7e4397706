"""System tests of the operation families: submit -> agent on a host root -> job detail."""
