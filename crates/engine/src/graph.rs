//! The DAG of nodes (petgraph), built from `depends_on`. Sources are not
//! nodes here: nothing builds them.

use std::collections::{BTreeSet, HashMap, HashSet};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction;

use crate::error::{Error, Result};
use crate::manifest::Manifest;

/// Edges point from a node to the nodes that read it.
pub struct Dag {
    pub graph: DiGraph<String, ()>,
    pub index: HashMap<String, NodeIndex>,
}

impl Dag {
    /// Build the DAG; a cycle is an error naming its path.
    pub fn build(m: &Manifest) -> Result<Dag> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for id in m.nodes.keys() {
            index.insert(id.clone(), graph.add_node(id.clone()));
        }
        for n in m.nodes.values() {
            for d in &n.depends_on {
                if let (Some(a), Some(b)) = (index.get(d), index.get(&n.unique_id)) {
                    graph.add_edge(*a, *b, ());
                }
            }
        }
        let dag = Dag { graph, index };
        if let Err(c) = petgraph::algo::toposort(&dag.graph, None) {
            let path = dag.cycle_through(c.node_id());
            return Err(Error::Graph(format!(
                "Found a cycle: {}",
                path.join(" --> ")
            )));
        }
        Ok(dag)
    }

    /// Every node, each after the nodes it reads (`build` checked there
    /// is no cycle).
    pub fn order(&self) -> Vec<String> {
        petgraph::algo::toposort(&self.graph, None)
            .map(|o| o.into_iter().map(|i| self.graph[i].clone()).collect())
            .unwrap_or_default()
    }

    /// A cycle through `start`, as unique ids, closing on `start`.
    fn cycle_through(&self, start: NodeIndex) -> Vec<String> {
        // BFS from start's children back to start, remembering parents
        let mut parent: HashMap<NodeIndex, NodeIndex> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut seen = HashSet::from([start]);
        while let Some(n) = queue.pop_front() {
            for c in self.graph.neighbors_directed(n, Direction::Outgoing) {
                if c == start {
                    let mut path = vec![self.graph[start].clone()];
                    let mut cur = n;
                    let mut rev = vec![];
                    while cur != start {
                        rev.push(self.graph[cur].clone());
                        cur = parent[&cur];
                    }
                    rev.reverse();
                    path.extend(rev);
                    path.push(self.graph[start].clone());
                    return path;
                }
                if seen.insert(c) {
                    parent.insert(c, n);
                    queue.push_back(c);
                }
            }
        }
        vec![self.graph[start].clone()]
    }

    fn walk(&self, id: &str, dir: Direction, depth: Option<usize>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let Some(&start) = self.index.get(id) else {
            return out;
        };
        let mut frontier = vec![start];
        let mut seen = HashSet::from([start]);
        let mut level = 0;
        while !frontier.is_empty() && depth.is_none_or(|d| level < d) {
            let mut next = vec![];
            for n in frontier {
                for c in self.graph.neighbors_directed(n, dir) {
                    if seen.insert(c) {
                        out.insert(self.graph[c].clone());
                        next.push(c);
                    }
                }
            }
            frontier = next;
            level += 1;
        }
        out
    }

    pub fn ancestors(&self, id: &str, depth: Option<usize>) -> BTreeSet<String> {
        self.walk(id, Direction::Incoming, depth)
    }

    pub fn descendants(&self, id: &str, depth: Option<usize>) -> BTreeSet<String> {
        self.walk(id, Direction::Outgoing, depth)
    }

    /// Parents of a node that are in the graph.
    pub fn parents(&self, id: &str) -> Vec<String> {
        self.index
            .get(id)
            .map(|&i| {
                self.graph
                    .neighbors_directed(i, Direction::Incoming)
                    .map(|p| self.graph[p].clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn children(&self, id: &str) -> Vec<String> {
        self.index
            .get(id)
            .map(|&i| {
                self.graph
                    .neighbors_directed(i, Direction::Outgoing)
                    .map(|p| self.graph[p].clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}
