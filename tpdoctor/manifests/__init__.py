"""Reading deployments as people write them (job.yaml, Kubernetes, compose, engine command lines) into
`tpdoctor.model.deployment.Deployment`, each value with the place it was read from."""
