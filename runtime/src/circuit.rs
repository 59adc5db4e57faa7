//! The boolean circuit library shared by GMW and Yao: one description per circuit, with AND count and AND depth as data.
