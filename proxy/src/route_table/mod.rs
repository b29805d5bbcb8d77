//! The routing part of a Snapshot in the form requests read: per route
//! config, hosts in hash maps and one `matchit` router per virtual host.
//! Lookup agrees with the reference [`sluice_config::RouteConfig::lookup`].

mod hosts;
mod paths;

use hosts::HostIndex;
use paths::PathRouter;
use sluice_config::{Route, RouteConfig, Snapshot, Split, VirtualHost};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("route config {route_config}, host {host}: {message}")]
    Path { route_config: String, host: String, message: String },
}

/// All route configs of one Snapshot, compiled.
#[derive(Debug, Default)]
pub struct RouteTable {
    configs: HashMap<String, Arc<RoutesForListener>>,
    generation: u64,
}

impl RouteTable {
    pub fn compile(snapshot: &Snapshot) -> Result<Self, CompileError> {
        let mut configs = HashMap::new();
        for rc in &snapshot.route_configs {
            configs.insert(rc.name.clone(), Arc::new(RoutesForListener::compile(rc)?));
        }
        Ok(Self { configs, generation: snapshot.generation })
    }

    /// The routes an L7 listener serves (its `routeConfig`).
    pub fn routes(&self, route_config: &str) -> Option<&Arc<RoutesForListener>> {
        self.configs.get(route_config)
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lookup<'t> {
    /// A route of the request's virtual host matched.
    Route { virtual_host: &'t VirtualHost, route: &'t Route },
    /// Nothing matched; the configured default backend takes it.
    DefaultBackend(&'t Split),
    /// Nothing matched and there is no default backend: 404.
    NotFound,
}

/// One route config, compiled.
#[derive(Debug)]
pub struct RoutesForListener {
    hosts: HostIndex,
    virtual_hosts: Vec<VirtualHost>,
    paths: Vec<PathRouter>,
    default_backend: Option<Split>,
}

impl RoutesForListener {
    fn compile(rc: &RouteConfig) -> Result<Self, CompileError> {
        let mut paths = Vec::with_capacity(rc.virtual_hosts.len());
        for vh in &rc.virtual_hosts {
            paths.push(PathRouter::compile(&vh.routes).map_err(|message| CompileError::Path {
                route_config: rc.name.clone(),
                host: vh.host.clone(),
                message,
            })?);
        }
        Ok(Self {
            hosts: HostIndex::build(rc.virtual_hosts.iter().map(|v| v.host.as_str())),
            virtual_hosts: rc.virtual_hosts.clone(),
            paths,
            default_backend: rc.default_backend.clone(),
        })
    }

    /// `host` is the request's Host (a port is ignored, case too); `path` the
    /// request path without query string.
    pub fn lookup(&self, host: &str, path: &str) -> Lookup<'_> {
        if let Some(i) = self.hosts.find(host)
            && let Some(r) = self.paths[i].find(path)
        {
            return Lookup::Route { virtual_host: &self.virtual_hosts[i], route: &self.virtual_hosts[i].routes[r] };
        }
        match &self.default_backend {
            Some(split) => Lookup::DefaultBackend(split),
            None => Lookup::NotFound,
        }
    }

    pub fn virtual_host(&self, host: &str) -> Option<&VirtualHost> {
        self.hosts.find(host).map(|i| &self.virtual_hosts[i])
    }
}

#[cfg(test)]
mod tests;
