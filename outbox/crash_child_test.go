package outbox

const childRoleEnv = "BLUESHIFT_OUTBOX_TEST_CHILD"

func childMain(role string) int { return 2 }
