//! Chatbot flows (DESIGN section 3): the definition as owners write it (JSON), its validation
//! (every problem at once, each with its path), targeting (who a flow is for), and the
//! interpreter, a pure function from a flow run's state and an event to the new state and
//! the actions to carry out.

pub mod definition;
pub mod interpreter;
pub mod targeting;
pub mod validate;

pub use definition::FlowDefinition;
