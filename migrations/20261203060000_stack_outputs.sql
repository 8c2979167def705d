-- The outputs of each stack of a deployment in an environment, as its last successful apply left
-- them (`pulumi stack output --json`: secrets stay "[secret]"). Dependents' `{{<stack>.<output>}}`
-- placeholders resolve from here: at plan time from the last apply, at apply time from the apply
-- that just finished upstream. A destroy removes the row.
CREATE TABLE stack_outputs (
    deployment_id  TEXT NOT NULL DEFAULT '' REFERENCES deployments(id),
    env            TEXT NOT NULL DEFAULT '',
    stack          TEXT NOT NULL DEFAULT '',
    outputs        TEXT NOT NULL DEFAULT '{}',
    -- The session whose apply wrote them (no reference: outputs outlive a pruned session).
    session_id     TEXT NOT NULL DEFAULT '',
    applied_at     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (deployment_id, env, stack)
);
