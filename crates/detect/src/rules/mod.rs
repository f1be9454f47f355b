//! Rule detectors over flows and windows (in progress).
