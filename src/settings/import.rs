//! `[import]`: how `whistle import` reads an office's visit sheet. Each
//! column lists the headers it goes by, so a sheet written as 收集人 and one
//! written as 民情服务员 both import. Plain data: the application checks the
//! lists (`crate::assemble`).

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct ImportSettings {
    pub resident_name: Vec<String>,
    pub resident_phone: Vec<String>,
    pub community: Vec<String>,
    /// 片区: read, not stored yet.
    pub zone: Vec<String>,
    pub address: Vec<String>,
    /// The category's name (路灯维修) or code (street-lighting).
    pub category: Vec<String>,
    /// The problem; its first sentence is the case's title.
    pub description: Vec<String>,
    /// 走访日期: read, not stored yet.
    pub visit_date: Vec<String>,
    /// 收集人/民情服务员: read, not stored yet.
    pub collector: Vec<String>,
    /// An optional column with the difficulty (1–5).
    pub difficulty: Vec<String>,
    /// The difficulty of a row without one.
    pub default_difficulty: i32,
}
