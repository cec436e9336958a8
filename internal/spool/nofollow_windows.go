package spool

// noFollow is not available on Windows; the queue folder is the agent's own
// (0700 under the state folder).
const noFollow = 0
