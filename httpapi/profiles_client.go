package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// PutProfile stores a profile's YAML under name; created says whether it
// was new. The server checks the YAML and answers 400 with the reason.
func (c *Client) PutProfile(ctx context.Context, name string, yaml []byte) (p ProfileJSON, created bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.url("/profiles/"+url.PathEscape(name), nil), strings.NewReader(string(yaml)))
	if err != nil {
		return p, false, err
	}
	req.Header.Set("Content-Type", "application/yaml")
	resp, err := c.do(req)
	if err != nil {
		return p, false, fmt.Errorf("put profile %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return p, false, fmt.Errorf("put profile %s: %w", name, apiError(resp))
	}
	if err := decodeBody(resp, &p); err != nil {
		return p, false, fmt.Errorf("put profile %s: %w", name, err)
	}
	return p, resp.StatusCode == http.StatusCreated, nil
}

// GetProfile returns the profile named name.
func (c *Client) GetProfile(ctx context.Context, name string) (ProfileJSON, error) {
	var p ProfileJSON
	if err := c.get(ctx, c.url("/profiles/"+url.PathEscape(name), nil), &p); err != nil {
		return p, fmt.Errorf("profile %s: %w", name, err)
	}
	return p, nil
}

// ListProfiles returns the stored profiles, by name.
func (c *Client) ListProfiles(ctx context.Context) ([]ProfileJSON, error) {
	var l ProfileList
	if err := c.get(ctx, c.url("/profiles", nil), &l); err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	return l.Items, nil
}

// DeleteProfile removes the profile named name.
func (c *Client) DeleteProfile(ctx context.Context, name string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url("/profiles/"+url.PathEscape(name), nil), nil)
	if err != nil {
		return err
	}
	resp, err := c.do(req)
	if err != nil {
		return fmt.Errorf("delete profile %s: %w", name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("delete profile %s: %w", name, apiError(resp))
	}
	return nil
}
